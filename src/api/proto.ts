// Loads our .proto files (found from this file up to the package root, so it
// works from src/ and from dist/) into grpc-js service definitions.
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ProtoGrpcType as AgentProto } from './gen/agent.js';
import type { ProtoGrpcType as LinksProto } from './gen/links.js';
import type { ProtoGrpcType as OperatorProto } from './gen/operator.js';

function protoDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(dir, 'proto', 'visp', 'v1', 'links.proto'))) return join(dir, 'proto');
    dir = dirname(dir);
  }
  throw new Error('proto/visp/v1 not found');
}

export const LOADER_OPTIONS: protoLoader.Options = { keepCase: false, longs: Number, enums: String, defaults: true, oneofs: true };

let cached: { def: protoLoader.PackageDefinition; pkg: LinksProto & OperatorProto & AgentProto } | undefined;
export function visp(): { def: protoLoader.PackageDefinition; pkg: LinksProto & OperatorProto & AgentProto } {
  if (!cached) {
    const def = protoLoader.loadSync(['visp/v1/links.proto', 'visp/v1/operator.proto', 'visp/v1/agent.proto'], { ...LOADER_OPTIONS, includeDirs: [protoDir()] });
    cached = { def, pkg: grpc.loadPackageDefinition(def) as unknown as LinksProto & OperatorProto & AgentProto };
  }
  return cached;
}
