/**
 * The route table's shared vocabulary: every route declares who may call it (`access`),
 * and handlers answer in Qdrant's envelope. The app refuses to register a route without
 * an access level, so no route can slip past authentication.
 */
import type { FastifyReply } from 'fastify';

/** Who may call a route: anyone, or keys with at least this role. */
export type Access = 'public' | 'read' | 'write' | 'admin';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Required on every route (checked at registration). */
    access?: Access;
    /**
     * A read of this node's own state under a collection's path (a job's status), not of
     * the collection's points: no cluster read check (the collection may not exist yet).
     */
    nodeLocal?: boolean;
  }
}

/** A registered route, as the route-auth walk sees it. */
export interface RouteInfo {
  readonly method: string;
  readonly url: string;
  readonly access: Access;
}

/** Qdrant's success envelope; `time` is seconds since the request arrived. */
export function envelope<T>(
  reply: FastifyReply,
  result: T,
): { result: T; status: 'ok'; time: number } {
  return { result, status: 'ok', time: reply.elapsedTime / 1000 };
}

/** The result of a completed write, as Qdrant reports it. */
export function updateResult(lsn: number): { operation_id: number; status: 'completed' } {
  return { operation_id: lsn, status: 'completed' };
}

/** The route parameters of a request, as strings. */
export function paramsOf(params: unknown): Readonly<Record<string, string | undefined>> {
  return (params ?? {}) as Record<string, string | undefined>;
}

/** The query string of a request, as strings. */
export function queryOf(query: unknown): Readonly<Record<string, string | undefined>> {
  return (query ?? {}) as Record<string, string | undefined>;
}
