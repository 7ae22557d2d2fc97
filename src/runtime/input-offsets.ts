/**
 * What a stage worker asks the broker about its input topic, beside consuming it: how far its
 * owned partitions are behind (the progress line, the lag gauge), where a partition starts, and
 * whether the group still assigns a partition to this member (taking back a fenced partition).
 * Each is one admin request; none of them changes anything.
 */
import kafkajs, { type Admin } from 'kafkajs';

/** What these queries read of a partition owner. */
export interface CommittedPartition {
  partition: number;
  /** The next offset to read after the last commit; null when nothing is committed yet. */
  committedOffset: bigint | null;
}

export class InputOffsets {
  constructor(
    private readonly admin: Admin,
    private readonly topic: string,
    private readonly groupId: string,
  ) {}

  /**
   * Records of `owners` not committed yet: end offset less committed offset (the start of the
   * partition when nothing is committed). Transaction markers count too, so it is a little high
   * on a transactional input; null when the broker does not answer.
   */
  async lag(owners: readonly CommittedPartition[]): Promise<number | null> {
    try {
      const ends = await this.ends();
      let lag = 0n;
      for (const owner of owners) {
        const end = ends.get(owner.partition);
        if (!end) continue;
        const behind = end.high - (owner.committedOffset ?? end.low);
        if (behind > 0n) lag += behind;
      }
      return Number(lag);
    } catch {
      return null;
    }
  }

  /** End offset less committed offset of each owner with a commit (for the lag gauge). */
  async committedLag(owners: Iterable<CommittedPartition>): Promise<{ partition: number; lag: number }[]> {
    const ends = await this.ends();
    const out: { partition: number; lag: number }[] = [];
    for (const owner of owners) {
      const end = ends.get(owner.partition);
      if (end && owner.committedOffset !== null) out.push({ partition: owner.partition, lag: Math.max(0, Number(end.high - owner.committedOffset)) });
    }
    return out;
  }

  /** The partition's first offset still on the broker: where to read from when nothing was committed. */
  async low(partition: number): Promise<bigint> {
    return (await this.ends()).get(partition)?.low ?? 0n;
  }

  /** Each partition's first and end offsets, in one request. */
  private async ends(): Promise<Map<number, { low: bigint; high: bigint }>> {
    const offsets = await this.admin.fetchTopicOffsets(this.topic);
    return new Map(offsets.map((o) => [o.partition, { low: BigInt(o.low), high: BigInt(o.high) }]));
  }

  /** Whether the group is stable with `memberId` in it, assigned `partition` of the topic. */
  async assigned(memberId: string, partition: number): Promise<boolean> {
    if (memberId === '') return false;
    const { groups } = await this.admin.describeGroups([this.groupId]);
    const group = groups[0];
    if (group?.state !== 'Stable') return false;
    const me = group.members.find((m) => m.memberId === memberId);
    if (!me) return false;
    const assignment = kafkajs.AssignerProtocol.MemberAssignment.decode(me.memberAssignment);
    return assignment?.assignment[this.topic]?.includes(partition) === true;
  }
}
