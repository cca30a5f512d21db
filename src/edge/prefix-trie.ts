/**
 * The prefixes of held filter sets, interned with short ids, for filter-index.ts: topic i > 1 of
 * a connection is `fi` + "\n" + the id of the prefix f1…f(i-1), so that a topic's name grows with
 * its own filter, not with every filter before it. A node per distinct prefix (its last filter and
 * its parent): a prefix's id stands for its whole sequence, and connections sharing a prefix share
 * its node. Ids are small integers in base 36, refcounted (one per held topic naming the prefix,
 * plus its children) and reused once free, so every id is below `peak`, the most prefixes alive
 * at once. Imports nothing.
 */

export const SEPARATOR = '\n'; // filters never contain control characters (protocol/filters.parseFilter)
const ID_RADIX = 36;

export interface Prefix {
  readonly filter: string;
  readonly parent: Prefix | undefined;
  readonly id: number;
  refs: number;
  /** Longer prefixes: one directly (the usual case), or by their last filter. */
  children: Prefix | Map<string, Prefix> | undefined;
}

export class PrefixTrie {
  /** Prefixes by id (undefined: free). Never shrinks: `peak` slots, a few bytes each, after a burst. */
  private readonly byId: (Prefix | undefined)[] = [];
  private readonly freeIds: number[] = [];
  /** One-filter prefixes by their filter. */
  private readonly roots = new Map<string, Prefix>();
  private live = 0;

  /** Prefixes alive now. */
  get inUse(): number {
    return this.live;
  }

  /** The most prefixes alive at once so far: every id is below it. */
  get peak(): number {
    return this.byId.length;
  }

  /** The topic of `filter` after `prefix`: one flat string (join), not a cons string of three parts. */
  topicName(filter: string, prefix: Prefix): string {
    return [filter, prefix.id.toString(ID_RADIX)].join(SEPARATOR);
  }

  /** The prefix a topic's name gives, if any (its id, read without slicing). */
  of(topic: string): Prefix | undefined {
    const at = topic.indexOf(SEPARATOR);
    if (at < 0 || at === topic.length - 1) return undefined;
    let id = 0;
    for (let i = at + 1; i < topic.length; i++) {
      const c = topic.charCodeAt(i);
      id = id * ID_RADIX + (c <= 57 ? c - 48 : c - 87); // 0-9, a-z
    }
    return this.byId[id];
  }

  /** The prefix `prefix` then `filter` (`prefix` undefined: the one-filter prefix), if alive. */
  childOf(prefix: Prefix | undefined, filter: string): Prefix | undefined {
    if (prefix === undefined) return this.roots.get(filter);
    const children = prefix.children;
    if (children === undefined) return undefined;
    if (children instanceof Map) return children.get(filter);
    return children.filter === filter ? children : undefined;
  }

  /** A new prefix: `parent` then `filter` (refs 0: the topic naming it counts next). */
  add(parent: Prefix | undefined, filter: string): Prefix {
    const id = this.freeIds.pop() ?? this.byId.length;
    const node: Prefix = { filter, parent, id, refs: 0, children: undefined };
    this.byId[id] = node;
    this.live += 1;
    if (parent === undefined) {
      this.roots.set(filter, node);
    } else {
      parent.refs += 1;
      const children = parent.children;
      if (children === undefined) parent.children = node;
      else if (children instanceof Map) children.set(filter, node);
      else parent.children = new Map([[children.filter, children], [filter, node]]);
    }
    return node;
  }

  /** Drops one reference; a prefix left unreferenced leaves the trie (and may free its parent). */
  unref(prefix: Prefix): void {
    for (let p: Prefix | undefined = prefix; p !== undefined && --p.refs === 0; ) {
      this.byId[p.id] = undefined;
      this.freeIds.push(p.id);
      this.live -= 1;
      const parent: Prefix | undefined = p.parent;
      if (parent === undefined) {
        this.roots.delete(p.filter);
      } else {
        const children = parent.children;
        if (children === p) parent.children = undefined;
        else if (children instanceof Map) {
          children.delete(p.filter);
          if (children.size === 1) parent.children = children.values().next().value as Prefix;
        }
      }
      p = parent;
    }
  }
}
