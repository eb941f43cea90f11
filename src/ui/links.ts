import { normaliseLink } from '../webhook/payload.js';

const ALLOWED_PROTOCOLS = new Set(['http:', 'https:', 'mailto:', 'tel:']);

/**
 * The href for a stored link, or undefined: then the page shows the link as text only. The webhook
 * stores links normalised already; this checks again at render time, with the same rules plus the
 * browser's own URL parser, so a row written some other way can never become a `javascript:` href.
 */
export function safeHref(link: string | null | undefined): string | undefined {
  if (!link) return undefined;
  const normalised = normaliseLink(link);
  if (normalised === null || !URL.canParse(normalised)) return undefined;
  return ALLOWED_PROTOCOLS.has(new URL(normalised).protocol) ? normalised : undefined;
}

/** An http(s) link, as `safeHref` gives: not mailto or tel. */
export const isWebLink = (href: string) => /^https?:/i.test(href);

/** What a link is shown as beside its item: the host for web links, the address for mailto and tel. */
export function linkLabel(href: string): string {
  return isWebLink(href) ? new URL(href).host : href.slice(href.indexOf(':') + 1);
}
