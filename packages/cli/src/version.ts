/** strata's version; a test keeps it equal to packages/cli/package.json. */
export const VERSION = '0.1.0';
