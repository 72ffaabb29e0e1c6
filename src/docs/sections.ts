/** One `##` or `###` section of a documentation page, the unit search_docs ranks. */
export interface DocSection {
  ordinal: number;
  heading: string;
  body: string;
}

const HEADING = /^(#{1,3})\s+(.+?)\s*#*\s*$/;
const FENCE = /^\s*(```|~~~)/;

/**
 * Splits a Markdown page at its `##` and `###` headings (not inside code blocks). The text before the first
 * one is section 0 under the page title; a section with no text is kept, since its heading alone may be what
 * a question names. The `#` title line itself belongs to no body.
 */
export function splitSections(title: string, markdown: string): DocSection[] {
  const sections: DocSection[] = [];
  let heading = title;
  let lines: string[] = [];
  let inFence = false;
  const flush = () => {
    const body = lines.join('\n').trim();
    if (body || sections.length > 0 || heading !== title) sections.push({ ordinal: sections.length, heading, body });
    lines = [];
  };
  for (const line of markdown.split(/\r?\n/)) {
    if (FENCE.test(line)) inFence = !inFence;
    const match = inFence ? null : HEADING.exec(line);
    if (match?.[1] === '#') continue;
    if (match) {
      flush();
      heading = match[2]!.replace(/[`*]/g, '');
    } else lines.push(line);
  }
  flush();
  return sections;
}
