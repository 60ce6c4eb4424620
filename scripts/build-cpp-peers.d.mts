// Types of scripts/build-cpp-peers.mjs (imported by the TypeScript tests).
export declare const buildDir: string;
export declare const programs: { readonly peer: string; readonly producer: string; readonly consumer: string };
export declare function buildCppPeers(): Promise<typeof programs>;
