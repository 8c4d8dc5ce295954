import { config } from 'zod/mini';
import en from 'zod/v4/locales/en.js';

// zod/mini is zod's tree-shakable API (a Lambda bundle keeps only the checks it uses); it carries
// no messages of its own, so English is loaded once here, and every schema imports `z` from here.
config(en());

export * from 'zod/mini';
