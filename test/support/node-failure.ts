import { MediaNodeUnreachable } from '@app/media-routing';

/** The MediaNodeUnreachable a request ends with; anything else (an answer, another error) fails the test. */
export async function unreachableFailure(request: Promise<unknown>): Promise<MediaNodeUnreachable> {
  const err = await request.then(
    () => new Error('answered'),
    (e: unknown) => e,
  );
  if (!(err instanceof MediaNodeUnreachable)) throw err;
  return err;
}
