// Types for build.mjs.
export declare const ROOT: string;
/** Runs `npx turbo run build` at the repository root; throws with turbo's output when it fails. */
export declare function buildPackages(): void;
