/**
 * ISO 8601 date and time with a zone, in the forms CRMs send: `T` or a space between date and time,
 * seconds and fractions optional (`.` or `,`), and the zone as `Z`, `±hh:mm`, `±hhmm` (Salesforce's
 * `+0000`) or `±hh` (PostgreSQL's `+00`). Fractions finer than a millisecond are cut.
 */
const ISO_TIME =
  /^(?<year>\d{4})-(?<month>\d{2})-(?<day>\d{2})[T ](?<hour>\d{2}):(?<minute>\d{2})(?::(?<second>\d{2})(?:[.,](?<fraction>\d+))?)?(?:Z|(?<sign>[+-])(?<zoneHour>\d{2})(?::?(?<zoneMinute>\d{2}))?)$/i;

/** The time `text` stands for, or undefined when it is not such a time or names no real one (Feb 30, 25:00). */
export function parseIsoTime(text: string): Date | undefined {
  const parts = ISO_TIME.exec(text.trim())?.groups;
  if (!parts) return undefined;
  const number = (digits: string | undefined) => Number(digits ?? 0);
  const [year, month, day] = [number(parts.year), number(parts.month), number(parts.day)];
  const [hour, minute, second] = [number(parts.hour), number(parts.minute), number(parts.second)];
  const [zoneHour, zoneMinute] = [number(parts.zoneHour), number(parts.zoneMinute)];
  const millisecond = Number((parts.fraction ?? '').padEnd(3, '0').slice(0, 3));
  if (hour > 23 || minute > 59 || second > 59 || zoneHour > 23 || zoneMinute > 59) return undefined;

  const date = new Date(0);
  // setUTCFullYear, not Date.UTC: Date.UTC reads years 0 to 99 as 1900 to 1999.
  date.setUTCFullYear(year, month - 1, day);
  if (date.getUTCFullYear() !== year || date.getUTCMonth() !== month - 1 || date.getUTCDate() !== day) return undefined;
  date.setUTCHours(hour, minute, second, millisecond);
  const offsetMinutes = (parts.sign === '-' ? -1 : 1) * (zoneHour * 60 + zoneMinute);
  return new Date(date.getTime() - offsetMinutes * 60_000);
}
