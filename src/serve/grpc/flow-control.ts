// HTTP/2 flow-control windows of the gRPC server. grpc-js gives a server no option for them (its
// `grpc-node.flow_control_window` is read by clients only), so every session receives with HTTP/2's default 64-KiB
// stream and connection windows: a 600-KB image is uploaded in ten bursts, each waiting for the server's
// WINDOW_UPDATE — a round trip through two busy event loops per 64 KiB. Triton's server (gRPC C-core) sizes its
// windows from the bandwidth-delay product instead. This advertises a stream window in the SETTINGS of every session
// and raises each session's connection window as it opens, so a request of up to a stream window arrives in one go.
import type { Http2Server, Http2Session, Settings } from 'node:http2'
import type * as grpc from '@grpc/grpc-js'

/** HTTP/2's default window (RFC 9113): what every grpc-js session starts with. */
const DEFAULT_WINDOW = 65_535
/**
 * The stream window each session advertises, bytes (a batch-8 fp16 image tensor of 224² is 2.4 MB);
 * ECLIP_GRPC_WINDOW_BYTES sets it, and 65535 or less keeps grpc-js's defaults (to compare the two).
 */
export const STREAM_WINDOW_BYTES = windowFromEnv(process.env.ECLIP_GRPC_WINDOW_BYTES) ?? 8 << 20
/** The connection window, bytes: several streams' worth, for clients that send on many calls at once. */
export const CONNECTION_WINDOW_BYTES = 8 * STREAM_WINDOW_BYTES

function windowFromEnv(v: string | undefined): number | undefined {
  if (v === undefined || v === '') return undefined
  const n = Number(v)
  // HTTP/2 caps a window at 2^31 - 1; the connection window is 8 of these
  if (!Number.isInteger(n) || n < 0 || n > 2 ** 28)
    throw new Error(`ECLIP_GRPC_WINDOW_BYTES=${v}: give a whole number of bytes from 0 to ${2 ** 28}`)
  return n
}

/** The grpc-js internals this reaches into (server.ts of @grpc/grpc-js 1.x; checked at run time). */
interface GrpcServerInternals {
  commonServerOptions?: { settings?: Settings }
  http2Servers?: Map<Http2Server, unknown>
}

/**
 * Before `bindAsync`: every session the server opens advertises `streamWindow`. Returns false (and changes nothing)
 * where grpc-js no longer has the field this sets.
 */
export function widenStreamWindow(server: grpc.Server, streamWindow = STREAM_WINDOW_BYTES): boolean {
  if (streamWindow <= DEFAULT_WINDOW) return true
  const s = server as unknown as GrpcServerInternals
  if (!s.commonServerOptions || typeof s.commonServerOptions !== 'object') return false
  s.commonServerOptions.settings = { ...s.commonServerOptions.settings, initialWindowSize: streamWindow }
  return true
}

/**
 * After `bindAsync`: each new session's connection window is raised to `connectionWindow`. Returns false where
 * grpc-js keeps its HTTP/2 servers elsewhere than this expects.
 */
export function widenConnectionWindow(
  server: grpc.Server,
  connectionWindow = CONNECTION_WINDOW_BYTES,
): boolean {
  if (connectionWindow <= 8 * DEFAULT_WINDOW) return true
  const servers = (server as unknown as GrpcServerInternals).http2Servers
  if (!(servers instanceof Map) || servers.size === 0) return false
  for (const h2 of servers.keys())
    h2.on('session', (session: Http2Session) => {
      try {
        session.setLocalWindowSize(connectionWindow)
      } catch {
        // a session that closed at once: nothing to widen
      }
    })
  return true
}
