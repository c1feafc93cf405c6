// Spec tooling (spec §1.2): spec/requirements.json is the index of the `[ID] LEVEL` tags of spec/smcp-federation.md.
// The prose is the source: IDs, levels and sections come from it; the one-line summaries are kept by hand.

export interface IndexedRequirement {
  id: string;
  level: string;
  section: string;
  summary: string;
}
export interface Tag {
  id: string;
  level: string;
  section: string;
  line: number;
  text: string;
}

const TAG = /^- \*\*\[([A-Z]+-\d+)\] (MUST NOT|MUST|SHOULD NOT|SHOULD|MAY)\*\* (.*)$/;
const HEADING = /^#{2,3} (\d+(?:\.\d+)?)\.? /;

/** Every requirement tag of the prose, with the section of the heading above it. */
export function readTags(prose: string): Tag[] {
  const tags: Tag[] = [];
  let section = "";
  prose.split("\n").forEach((text, i) => {
    const h = HEADING.exec(text);
    if (h) section = h[1]!;
    const t = TAG.exec(text);
    if (t) tags.push({ id: t[1]!, level: t[2]!, section, line: i + 1, text: t[3]! });
  });
  return tags;
}

/** Differences between the prose and the index, each naming the ID; empty when they agree. */
export function checkIndex(tags: Tag[], index: IndexedRequirement[]): string[] {
  const problems: string[] = [];
  const seen = new Map<string, Tag>();
  for (const t of tags) {
    const first = seen.get(t.id);
    if (first) problems.push(`${t.id}: tagged twice in the prose (lines ${first.line} and ${t.line})`);
    seen.set(t.id, t);
  }
  const indexed = new Map(index.map((r) => [r.id, r]));
  for (const t of seen.values()) {
    const r = indexed.get(t.id);
    if (!r) problems.push(`${t.id}: in the prose (line ${t.line}) but not in spec/requirements.json`);
    else {
      if (r.level !== t.level) problems.push(`${t.id}: level ${t.level} in the prose, ${r.level} in spec/requirements.json`);
      if (r.section !== t.section) problems.push(`${t.id}: section ${t.section} in the prose, ${r.section} in spec/requirements.json`);
      if (!r.summary.trim()) problems.push(`${t.id}: empty summary in spec/requirements.json`);
    }
  }
  for (const r of index) if (!seen.has(r.id)) problems.push(`${r.id}: in spec/requirements.json but not tagged in the prose`);
  return problems;
}

/** The index rebuilt from the prose, in prose order, keeping the hand-written summaries. */
export function rebuildIndex(tags: Tag[], index: IndexedRequirement[]): IndexedRequirement[] {
  const summaries = new Map(index.map((r) => [r.id, r.summary]));
  return tags.map((t) => ({
    id: t.id,
    level: t.level,
    section: t.section,
    summary: summaries.get(t.id) ?? firstWords(t.text),
  }));
}

/** A starting summary for a new requirement (edit it by hand): the sentence without markup, cut at 100 characters. */
function firstWords(text: string): string {
  const plain = text.replace(/`/g, "").replace(/\*\*/g, "");
  return plain.length <= 100 ? plain : `${plain.slice(0, 97).replace(/\s+\S*$/, "")}…`;
}
