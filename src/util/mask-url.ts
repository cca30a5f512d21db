/**
 * Hides the password of a connection URL, for logs and error messages. Lives in util/ so that
 * config/, bus/, listener/, notify/ and migrate/ take it from below, not from each other.
 *
 * Imports: nothing.
 */
export function maskUrl(u: string): string {
  try {
    const parsed = new URL(u);
    if (parsed.password !== '') parsed.password = '***';
    return parsed.toString();
  } catch {
    return u.replace(/:\/\/([^:/@]*):[^@]*@/, '://$1:***@');
  }
}
