/**
 * Reading a kafkajs record header as text. kafkajs hands a header as a Buffer, a string, or an
 * array of them when the name repeats; the last value of a repeated name is the one that counts
 * (it was added last).
 */
import type { IHeaders } from 'kafkajs';

/** The header's last value as UTF-8 text, or undefined when the record does not carry it. */
export function headerText(headers: IHeaders | undefined, name: string): string | undefined {
  let v = headers?.[name];
  if (Array.isArray(v)) v = v[v.length - 1];
  if (v === undefined || v === null) return undefined;
  return Buffer.isBuffer(v) ? v.toString('utf8') : String(v);
}
