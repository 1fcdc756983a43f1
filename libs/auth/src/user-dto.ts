import type { UserDto } from '@app/contracts';

/** The protocol's user, made only here from a users row. */
export function toUserDto(row: { id: string; handle: string; displayName: string }): UserDto {
  return { id: row.id, handle: row.handle, displayName: row.displayName };
}
