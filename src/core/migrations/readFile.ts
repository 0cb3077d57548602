import { readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { LabError } from '../errors';

/**
 * Reads one migration file as strict UTF-8. A lenient decode would replace bad bytes with U+FFFD and
 * the migration would store `caf\uFFFD` while reporting success; a folder named like a migration
 * would surface as a bare EISDIR. Both become one sentence naming the file.
 */
export async function readMigrationFile(dir: string, fileName: string): Promise<string> {
  let bytes: Buffer;
  try {
    bytes = await readFile(join(dir, fileName));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EISDIR') {
      throw new LabError(
        `${fileName} in the migrations folder ${basename(dir)} is a folder, not a file; rename it so that its name does not end in .sql, or move it out.`,
        { cause: e, detail: `Path: ${join(dir, fileName)}` },
      );
    }
    throw new LabError(`Cannot read the migration file ${fileName} (${code ?? 'read error'}).`, {
      cause: e,
      detail: `Path: ${join(dir, fileName)}`,
    });
  }
  return decodeUtf8Strict(fileName, bytes);
}

/** Decodes UTF-8 (a leading BOM is dropped); throws LabError with the byte offset of the first bad sequence. */
export function decodeUtf8Strict(fileName: string, bytes: Uint8Array): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    const offset = firstInvalidUtf8Offset(bytes) ?? 0;
    let line = 1;
    for (let i = 0; i < offset; i++) if (bytes[i] === 0x0a) line++;
    throw new LabError(
      `${fileName} is not valid UTF-8: the first bad byte sequence is at byte offset ${offset} (line ${line}); save the file as UTF-8.`,
    );
  }
}

/** Offset of the first byte that does not start a well-formed UTF-8 sequence (RFC 3629), or undefined. */
export function firstInvalidUtf8Offset(bytes: Uint8Array): number | undefined {
  const cont = (i: number, lo = 0x80, hi = 0xbf) => i < bytes.length && bytes[i]! >= lo && bytes[i]! <= hi;
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i]!;
    let length = 0;
    if (b <= 0x7f) length = 1;
    else if (b >= 0xc2 && b <= 0xdf) length = cont(i + 1) ? 2 : 0;
    else if (b >= 0xe0 && b <= 0xef) {
      const lo = b === 0xe0 ? 0xa0 : 0x80;
      const hi = b === 0xed ? 0x9f : 0xbf; // no UTF-16 surrogates
      length = cont(i + 1, lo, hi) && cont(i + 2) ? 3 : 0;
    } else if (b >= 0xf0 && b <= 0xf4) {
      const lo = b === 0xf0 ? 0x90 : 0x80;
      const hi = b === 0xf4 ? 0x8f : 0xbf; // nothing above U+10FFFF
      length = cont(i + 1, lo, hi) && cont(i + 2) && cont(i + 3) ? 4 : 0;
    }
    if (length === 0) return i;
    i += length;
  }
  return undefined;
}
