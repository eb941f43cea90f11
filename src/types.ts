/** `true` only when A and B have the same keys: for compile-time checks that two shapes stay in step. */
export type SameKeys<A, B> = [keyof A] extends [keyof B] ? ([keyof B] extends [keyof A] ? true : never) : never;
