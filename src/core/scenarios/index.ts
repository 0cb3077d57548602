/** The scenarios: the demo and the lessons as data (see types.ts). */
export * from './types';
export * from './demo';
export * from './lessons';
export * from './source';
