/**
 * Parquet schemas described as a small tree of typed fields and flattened into the pre-order
 * `SchemaElement` list the parquet footer stores. Every field is OPTIONAL (nullable), as pyarrow
 * makes the fields of a table it builds from Python dicts, so a file written here and one the
 * Python client writes from the same rows have the same schema. Lists use the standard
 * three-level LIST layout (`<name>.list.element`), which pyarrow reads as `list<element: ...>`.
 *
 * Maps are deliberately absent: `datasets` (5.2) refuses Arrow map columns ("does not have a
 * datasets dtype equivalent"), so key-value data is a list of {key, value} structs instead.
 */
import type { SchemaElement } from 'hyparquet-writer';

export type Field =
  | { kind: 'string' | 'int32' | 'int64' | 'boolean' | 'timestamp_ms'; name: string }
  | { kind: 'struct'; name: string; fields: Field[] }
  | { kind: 'list'; name: string; element: Field };

export const str = (name: string): Field => ({ kind: 'string', name });
export const int32 = (name: string): Field => ({ kind: 'int32', name });
export const int64 = (name: string): Field => ({ kind: 'int64', name });
export const bool = (name: string): Field => ({ kind: 'boolean', name });
/** Epoch milliseconds, read by pyarrow as `timestamp[ms, tz=UTC]`. Values are bigints. */
export const timestampMs = (name: string): Field => ({ kind: 'timestamp_ms', name });
export const struct = (name: string, fields: Field[]): Field => ({ kind: 'struct', name, fields });
/** A list whose items have the shape of `element` (its name is replaced by `element`). */
export const list = (name: string, element: Field): Field => ({ kind: 'list', name, element: { ...element, name: 'element' } });

function leaf(field: Field): SchemaElement {
  const base = { name: field.name, repetition_type: 'OPTIONAL' } as const;
  switch (field.kind) {
    case 'string':
      return { ...base, type: 'BYTE_ARRAY', converted_type: 'UTF8' };
    case 'int32':
      return { ...base, type: 'INT32' };
    case 'int64':
      return { ...base, type: 'INT64' };
    case 'boolean':
      return { ...base, type: 'BOOLEAN' };
    case 'timestamp_ms':
      return { ...base, type: 'INT64', converted_type: 'TIMESTAMP_MILLIS', logical_type: { type: 'TIMESTAMP', isAdjustedToUTC: true, unit: 'MILLIS' } };
    case 'struct':
    case 'list':
      throw new Error(`${field.name} is not a leaf`);
  }
}

function flatten(field: Field, out: SchemaElement[]): void {
  switch (field.kind) {
    case 'struct':
      out.push({ name: field.name, repetition_type: 'OPTIONAL', num_children: field.fields.length });
      for (const child of field.fields) flatten(child, out);
      return;
    case 'list':
      out.push({ name: field.name, repetition_type: 'OPTIONAL', converted_type: 'LIST', num_children: 1 });
      out.push({ name: 'list', repetition_type: 'REPEATED', num_children: 1 });
      flatten(field.element, out);
      return;
    default:
      out.push(leaf(field));
  }
}

/** The footer schema of a file whose top-level columns are `fields`. */
export function parquetSchema(fields: readonly Field[]): SchemaElement[] {
  const out: SchemaElement[] = [{ name: 'root', num_children: fields.length }];
  for (const field of fields) flatten(field, out);
  return out;
}
