import type { ServerResponse } from 'node:http';
import { CancelledError } from '../errors.js';

/**
 * Aborts `controller` when the client hangs up before its answer is written, so that the call's statement
 * is cancelled (test/faults/client-disconnect.test.ts). Listens on the response's 'close': the request's
 * fires as soon as its body has been read. Call the returned function once the call is over.
 */
export function abortWhenClientLeaves(res: ServerResponse, controller: AbortController): () => void {
  const onClose = () => {
    if (!res.writableFinished) controller.abort(new CancelledError('the client disconnected'));
  };
  if (res.destroyed) onClose();
  else res.once('close', onClose);
  return () => res.off('close', onClose);
}
