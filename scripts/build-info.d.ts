// Types of build-info.js (plain JavaScript: the bin runs it without a build) for the TypeScript that imports it.
export function writeBuildInfo(root: string): Promise<void>;
export function staleBuild(root: string): Promise<string | undefined>;
export function exitIfStale(reason: string | undefined): void;
