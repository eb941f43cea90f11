/** What makes two labels one: the same name whatever its case. Stored as `labels.key`, unique per account. */
export const labelKey = (name: string) => name.toLowerCase();
