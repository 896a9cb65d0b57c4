// disable_metrics name patterns: Elastic's wildcard syntax ('*' = any run of characters, case-insensitive unless prefixed "(?-i)").

/**
 * Compiles wildcard patterns into one predicate over metric names.
 * Example: compileWildcards(['system.*', '(?-i)NodeJS.handles.active'])('system.memory.total') === true.
 */
export function compileWildcards(patterns: readonly string[]): (name: string) => boolean {
  const res: RegExp[] = [];
  for (const raw of patterns) {
    if (typeof raw !== 'string') continue;
    let p = raw.trim();
    if (p === '') continue;
    let flags = 'i';
    if (p.startsWith('(?-i)')) {
      flags = '';
      p = p.slice(5);
    }
    const body = p
      .split('*')
      .map((part) => part.replace(/[\\^$.+?()[\]{}|]/g, '\\$&'))
      .join('.*');
    res.push(new RegExp(`^${body}$`, flags));
  }
  if (res.length === 0) return () => false;
  return (name) => res.some((re) => re.test(name));
}
