import { LogController, type FastifyReply, type FastifyRequest } from 'fastify';
import { redactUrl, type Logger } from '../log.js';

/**
 * Fastify's own request log lines carry `req.url`, and Livefyre puts its
 * token in the query string (`lftoken`, `actor_token`). This controller logs
 * one line per request with the URL redacted, and never hands the raw request
 * to the logger. Shared by the pull server and the Livefyre simulator.
 */
export class RedactingLogController extends LogController {
  override incomingRequest(): void {}

  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    // below info (the default is warn) a served request logs nothing: do not build its line
    if (!error && (reply.log as Partial<Pick<Logger, 'isLevelEnabled'>>).isLevelEnabled?.('info') === false) return;
    const line = {
      method: request.method,
      url: redactUrl(request.url),
      statusCode: reply.statusCode,
      responseTime: reply.elapsedTime,
    };
    if (error) reply.log.error({ ...line, err: error }, 'request errored');
    else reply.log.info(line, 'request completed');
  }

  override defaultErrorLog(error: Error, request: FastifyRequest, reply: FastifyReply): void {
    const line = { method: request.method, url: redactUrl(request.url), statusCode: reply.statusCode, err: error };
    if (reply.statusCode >= 500) reply.log.error(line, error.message);
    else reply.log.info(line, error.message);
  }

  override routeNotFound(request: FastifyRequest): void {
    request.log.info({ method: request.method, url: redactUrl(request.url) }, 'route not found');
  }

  override writeHeadError(error: Error, request: FastifyRequest, reply: FastifyReply): void {
    reply.log.warn({ url: redactUrl(request.url), err: error }, error.message);
  }
}
