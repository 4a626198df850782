// The few pieces of protobuf's wire format that encode.ts (big replies) and
// bulk-decode.ts (big requests) work with directly: a message type and a
// field by name from proto-loader's descriptors, and a length-delimited
// field's record. One copy, for both directions.
import type { MessageTypeDefinition, PackageDefinition } from '@grpc/proto-loader';

export function messageType(def: PackageDefinition, name: string): MessageTypeDefinition<object, object> {
  const t = def[name] as MessageTypeDefinition<object, object> | undefined;
  if (!t || t.format !== 'Protocol Buffer 3 DescriptorProto') throw new TypeError(`wire: ${name} is not a message type of this package`);
  return t;
}

export interface FieldInfo { number: number; typeName: string; repeated: boolean }

/** A field of `typeName` by its (JS) name: its number, its message type's full name, whether it repeats. */
export function fieldOf(def: PackageDefinition, typeName: string, field: string): FieldInfo {
  const t = messageType(def, typeName);
  const f = (t.type as { field: Array<{ name: string; number: number; typeName: string; label: string }> }).field.find((x) => x.name === field);
  if (!f) throw new TypeError(`wire: ${typeName} has no field ${field}`);
  // Descriptor type names are relative to the package (here, every type is in visp.v1).
  const pkg = typeName.slice(0, typeName.lastIndexOf('.'));
  return { number: f.number, typeName: f.typeName.includes('.') ? f.typeName.replace(/^\./, '') : `${pkg}.${f.typeName}`, repeated: f.label === 'LABEL_REPEATED' };
}

export function varint(n: number): Buffer {
  const out: number[] = [];
  while (n > 0x7f) { out.push((n & 0x7f) | 0x80); n = Math.floor(n / 128); }
  out.push(n);
  return Buffer.from(out);
}

/** The record of a length-delimited field: tag, length, bytes. */
export function record(field: number, bytes: Uint8Array): Buffer[] {
  return [varint((field << 3) | 2), varint(bytes.length), Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)];
}
