/**
 * The one definition of "either user blocked the other", as an SQL boolean
 * expression over two user-id expressions (placeholders or columns). Every
 * check of a block, by itself or inside a larger statement (a call's
 * invite, a message's send checks), is this expression, so they cannot drift.
 * `blocks` names the rows it looks in: the table, or rows of it a statement
 * read already (with the table's blocker_id and blocked_id columns).
 */
export function blockedEitherWaySql(a: string, b: string, blocks = 'blocks'): string {
  return `EXISTS (SELECT 1 FROM ${blocks}
                   WHERE (${blocks}.blocker_id = ${a} AND ${blocks}.blocked_id = ${b})
                      OR (${blocks}.blocker_id = ${b} AND ${blocks}.blocked_id = ${a}))`;
}

/** Both users have each other as contacts, as an SQL boolean expression (see blockedEitherWaySql). */
export function mutualContactsSql(a: string, b: string): string {
  return `((SELECT count(*) FROM contacts
             WHERE (contacts.owner_id = ${a} AND contacts.contact_id = ${b})
                OR (contacts.owner_id = ${b} AND contacts.contact_id = ${a})) = 2)`;
}
