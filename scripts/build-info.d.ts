// Types of build-info.js (plain JavaScript: the bin runs it without a build) for the TypeScript that imports it.
export function writeBuildInfo(root: string): void;
export function staleBuild(root: string): string | undefined;
export function requireCurrentBuild(root: string): void;
