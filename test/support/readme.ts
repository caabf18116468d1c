import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

const README = fileURLToPath(new URL('../../README.md', import.meta.url));

/**
 * The README's section under `heading` (e.g. `### Security`), up to the next
 * heading of the same or a higher level, so a test can run what the README
 * shows instead of a copy that drifts from it.
 */
export async function readmeSection(heading: string): Promise<string> {
  const text = await readFile(README, 'utf8');
  const level = /^#+/.exec(heading)?.[0].length ?? 0;
  const lines = text.split('\n');
  const start = lines.findIndex((line) => line.trim() === heading);
  if (level === 0 || start < 0) throw new Error(`README.md has no heading ${JSON.stringify(heading)}`);
  let fenced = false;
  let end = start + 1;
  for (; end < lines.length; end++) {
    const line = lines[end]!;
    if (line.startsWith('```')) fenced = !fenced;
    const next = fenced ? undefined : /^(#+) /.exec(line);
    if (next && next[1]!.length <= level) break;
  }
  return lines.slice(start, end).join('\n');
}

/** The contents of the ```` ```lang ```` fenced blocks of `markdown`, in order. */
export function fencedBlocks(markdown: string, lang: string): string[] {
  const blocks: string[] = [];
  for (const match of markdown.matchAll(/^```([\w-]*)\n([\s\S]*?)^```$/gm)) if (match[1] === lang) blocks.push(match[2]!);
  return blocks;
}

/** `text` with `from` replaced by `to`; throws unless `from` occurs exactly once (so a README edit cannot silently change what runs). */
export function replaceOnce(text: string, from: string, to: string): string {
  const parts = text.split(from);
  if (parts.length !== 2) throw new Error(`expected ${JSON.stringify(from)} exactly once, found it ${parts.length - 1} times in:\n${text}`);
  return parts.join(to);
}
