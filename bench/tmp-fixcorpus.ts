import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeLintCorpus } from './lintCorpus';
const dir = mkdtempSync(join(tmpdir(), 'fixcorpus-'));
writeLintCorpus(dir, 5, 1000);
console.log(dir);
