/**
 * Reads the tables of a markdown document's section, for tests that keep README in step with the
 * code (close codes, error codes): rows as arrays of trimmed cells, header and separator dropped.
 */

/** The text under the heading `heading` (any level), up to the next heading of the same or a higher level. */
export function markdownSection(markdown: string, heading: string): string {
  const lines = markdown.split('\n');
  // A `# comment` inside a fenced code block (```sh, ```yaml) is no heading.
  let fenced = false;
  const isHeading = lines.map((l) => {
    if (/^\s*```/.test(l)) fenced = !fenced;
    return !fenced && /^#{1,6} /.test(l);
  });
  const start = lines.findIndex((l, i) => isHeading[i] && l.replace(/^#+ /, '').trim() === heading);
  if (start < 0) throw new Error(`no heading "${heading}"`);
  const level = /^#+/.exec(lines[start] ?? '')?.[0].length ?? 1;
  const end = lines.findIndex((l, i) => i > start && isHeading[i] && (/^#+/.exec(l)?.[0].length ?? 7) <= level);
  return lines.slice(start + 1, end < 0 ? undefined : end).join('\n');
}

/** The body rows of every table in `text`: cells trimmed, `\|` kept as `|`. */
export function tableRows(text: string): string[][] {
  const rows: string[][] = [];
  let inTable = false;
  for (const line of text.split('\n')) {
    if (!line.startsWith('|')) {
      inTable = false;
      continue;
    }
    const cells = line
      .replace(/^\|/, '')
      .replace(/\|\s*$/, '')
      .split(/(?<!\\)\|/)
      .map((c) => c.trim().replace(/\\\|/g, '|'));
    if (!inTable) {
      inTable = true; // the header row
      continue;
    }
    if (cells.every((c) => /^:?-+:?$/.test(c))) continue; // the separator row
    rows.push(cells);
  }
  return rows;
}
