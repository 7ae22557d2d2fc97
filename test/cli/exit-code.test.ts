// The exit code of a finished `run`: interrupted wins, then "more than pipeline.maxLlmFailedShare
// of the documents ended in llm.failed" (malformed input lines are not documents), else 0.
import { describe, expect, it } from 'vitest';
import { EXIT_LLM_FAILED, runExitCode } from '../../src/cli/run.js';
import { RunStats } from '../../src/runtime/stats.js';

function stats(read: number, inputRejected: number, llmFailed: number): RunStats {
  const s = new RunStats();
  s.documentsRead = read;
  s.inputRejected = inputRejected;
  s.documentsLlmFailed = llmFailed;
  return s;
}

describe('runExitCode', () => {
  it('is 3 only above the share, counting valid documents', () => {
    expect(EXIT_LLM_FAILED).toBe(3);
    expect(runExitCode(stats(10, 0, 6), 0.5, false)).toBe(3);
    expect(runExitCode(stats(10, 0, 5), 0.5, false)).toBe(0);
    // 5 of 8 valid documents (2 malformed lines) is above half.
    expect(stats(10, 2, 5).llmFailedShare()).toBe(5 / 8);
    expect(runExitCode(stats(10, 2, 5), 0.5, false)).toBe(3);
    expect(runExitCode(stats(10, 0, 1), 0, false)).toBe(3);
    expect(runExitCode(stats(10, 0, 10), 1, false)).toBe(0);
  });

  it('is 0 for an empty run or one with only malformed lines, and 130 when interrupted', () => {
    expect(runExitCode(stats(0, 0, 0), 0, false)).toBe(0);
    expect(runExitCode(stats(3, 3, 0), 0, false)).toBe(0);
    expect(runExitCode(stats(10, 0, 10), 0.5, true)).toBe(130);
  });
});
