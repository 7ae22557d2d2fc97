import { mkdtemp, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { byteLines, contentId, openInput, readJsonLines, type InputItem } from '../../src/input/reader.js';

async function collect(it: AsyncIterable<InputItem>): Promise<InputItem[]> {
  const out: InputItem[] = [];
  for await (const x of it) out.push(x);
  return out;
}

function streamOf(...chunks: (string | Buffer)[]): Readable {
  return Readable.from(chunks.map((c) => (typeof c === 'string' ? Buffer.from(c) : c)));
}

describe('byteLines', () => {
  it('splits across chunk boundaries and strips CR', async () => {
    const lines: string[] = [];
    for await (const l of byteLines(streamOf('ab', 'c\r\nde', 'f\ng', 'h'))) lines.push(l.toString());
    expect(lines).toEqual(['abc', 'def', 'gh']);
  });
});

describe('readJsonLines', () => {
  it('turns valid lines into documents and bad ones into typed rejections with line numbers', async () => {
    const input = [
      JSON.stringify({ id: 'a', text: 'hello world', url: 'https://x', source: 'wiki' }),
      '',
      '   ',
      '{not json',
      '[1,2]',
      JSON.stringify({ id: 'b' }),
      JSON.stringify({ id: 'c', text: 42 }),
      JSON.stringify({ text: 'no id here' }),
      JSON.stringify({ id: 'd', text: 'x', url: 5 }),
      JSON.stringify({ id: 7, text: 'numeric id' }),
      '"just a string"',
    ].join('\n');
    const items = await collect(readJsonLines(streamOf(input)));
    const summary = items.map((i) => (i.kind === 'document' ? `doc:${i.doc.id}` : i.kind === 'rejection' ? `${i.rejection.reason}@${i.rejection.line}` : `skip:${i.reason}`));
    expect(summary).toEqual([
      'doc:a',
      'input.invalid_json@4',
      'input.not_object@5',
      'input.missing_text@6',
      'input.missing_text@7',
      `doc:${contentId('no id here')}`,
      'input.invalid_field@9',
      'doc:7',
      'input.not_object@11',
    ]);
    const first = items[0];
    expect(first?.kind === 'document' && first.doc).toMatchObject({ url: 'https://x', source: 'wiki', text: 'hello world' });
    const rej = items.find((i) => i.kind === 'rejection' && i.rejection.reason === 'input.missing_text');
    expect(rej?.kind === 'rejection' && rej.rejection).toMatchObject({ doc_id: 'b', stage: 'input' });
  });

  it('rejects invalid UTF-8 lines without crashing and keeps going', async () => {
    const bad = Buffer.concat([Buffer.from('{"text":"caf'), Buffer.from([0xc3, 0x28]), Buffer.from('"}\n')]);
    const items = await collect(readJsonLines(streamOf(bad, '{"id":"ok","text":"fine"}\n')));
    expect(items.map((i) => (i.kind === 'document' ? i.doc.id : i.kind === 'rejection' ? i.rejection.reason : `skip:${i.reason}`))).toEqual(['input.invalid_utf8', 'ok']);
  });

  it('derives the same content id for the same text', async () => {
    expect(contentId('same')).toBe(contentId('same'));
    expect(contentId('same')).not.toBe(contentId('other'));
  });
});

describe('openInput', () => {
  it('reads a folder: JSON-lines files by line, other files as one document each', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'wsrl-input-'));
    await mkdir(join(dir, 'sub'));
    await writeFile(join(dir, 'a.jsonl'), '{"id":"1","text":"one"}\n{"id":"2","text":"two"}\n');
    await writeFile(join(dir, 'b.txt'), 'A plain text document.\nSecond line.');
    await writeFile(join(dir, 'c.md'), Buffer.from([0xff, 0xfe, 0x00]));
    const src = await openInput(dir);
    expect(src.totalBytes).toBeGreaterThan(0);
    const items = await collect(src.items);
    expect(items.map((i) => (i.kind === 'document' ? i.doc.text : i.kind === 'rejection' ? i.rejection.reason : `skip:${i.reason}`))).toEqual([
      'one',
      'two',
      'A plain text document.\nSecond line.',
      'input.invalid_utf8',
    ]);
  });

  it('fails clearly on a missing path', async () => {
    await expect(openInput('/nonexistent/file.jsonl')).rejects.toMatchObject({ code: 'USAGE' });
  });
});
