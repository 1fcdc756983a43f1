export const DATABASE_CONNECTION = Symbol('DATABASE_CONNECTION');

/** Where the database is, once it is started (embedded) and migrated. */
export interface DatabaseConnection {
  url: string;
  embedded: boolean;
}
