// HTTP/2 flow-control windows and frame size of the gRPC server. grpc-js gives a server no option for them (its
// `grpc-node.flow_control_window` is read by clients only), so every session receives with HTTP/2's default 64-KiB
// stream and connection windows: a 600-KB image is uploaded in ten bursts, each waiting for the server's
// WINDOW_UPDATE — a round trip through two busy event loops per 64 KiB. Triton's server (gRPC C-core) sizes its
// windows from the bandwidth-delay product instead. This advertises a stream window in the SETTINGS of every session
// and raises each session's connection window as it opens, so a request of up to a stream window arrives in one go;
// and it lets clients send frames larger than HTTP/2's default 16 KiB, each of which costs the server at least one
// chunk.
import type { Http2Server, Http2Session, Settings } from 'node:http2'
import type * as grpc from '@grpc/grpc-js'
import { wholeNumberFromEnv } from '../env.ts'

/** HTTP/2's default window (RFC 9113): what every grpc-js session, server or client, starts with. */
export const DEFAULT_WINDOW = 65_535
/** HTTP/2's default and least SETTINGS_MAX_FRAME_SIZE, and its greatest (RFC 9113 §6.5.2). */
const DEFAULT_FRAME = 16_384
const LARGEST_FRAME = 2 ** 24 - 1

/** The HTTP/2 sizes eclip's gRPC server advertises (and serve-bench's gRPC clients receive with). */
export interface Http2Sizes {
  /** The stream window, bytes (a batch-8 fp16 image tensor of 224² is 2.4 MB). */
  streamWindow: number
  /** The connection window, bytes: several streams' worth, for clients that send on many calls at once. */
  connectionWindow: number
  /**
   * The largest DATA frame a client may send, bytes. Node's HTTP/2 hands grpc-js at least one chunk per frame (more
   * where a frame spans socket reads); gRPC's C core (tritonclient.grpc) sends 64-KiB frames where allowed, about a
   * quarter of the chunks of HTTP/2's 16-KiB default. A frame of one stream delays the others on its connection by at
   * most this much.
   */
  maxFrame: number
}

/**
 * The sizes, from the server's environment: ECLIP_GRPC_WINDOW_BYTES (the stream window; 65535 or less keeps
 * grpc-js's defaults on both sides, to compare the two) and ECLIP_GRPC_MAX_FRAME_BYTES (16384, HTTP/2's default, up
 * to 2^24 − 1). A bad value is refused naming its variable.
 */
export function http2Sizes(env: NodeJS.ProcessEnv = process.env): Http2Sizes {
  // HTTP/2 caps a window at 2^31 - 1, and the connection window is 8 stream windows
  const bytes = (name: string, least: number, most: number) =>
    wholeNumberFromEnv(env, name, { least, most, what: 'a size in bytes' })
  const streamWindow = bytes('ECLIP_GRPC_WINDOW_BYTES', 0, Math.floor((2 ** 31 - 1) / 8)) ?? 8 << 20
  return {
    streamWindow,
    connectionWindow: 8 * streamWindow,
    maxFrame: bytes('ECLIP_GRPC_MAX_FRAME_BYTES', DEFAULT_FRAME, LARGEST_FRAME) ?? 1 << 20,
  }
}

/** The grpc-js internals this reaches into (server.ts of @grpc/grpc-js 1.x; checked at run time). */
interface GrpcServerInternals {
  commonServerOptions?: { settings?: Settings }
  http2Servers?: Map<Http2Server, unknown>
}

/**
 * Before `bindAsync`: every session the server opens advertises the stream window and the largest frame in its
 * SETTINGS. Returns false (and changes nothing) where grpc-js no longer has the field this sets.
 */
export function advertiseSettings(server: grpc.Server, sizes: Http2Sizes): boolean {
  const settings: Settings = {}
  if (sizes.streamWindow > DEFAULT_WINDOW) settings.initialWindowSize = sizes.streamWindow
  if (sizes.maxFrame > DEFAULT_FRAME) settings.maxFrameSize = sizes.maxFrame
  if (Object.keys(settings).length === 0) return true
  const s = server as unknown as GrpcServerInternals
  if (!s.commonServerOptions || typeof s.commonServerOptions !== 'object') return false
  s.commonServerOptions.settings = { ...s.commonServerOptions.settings, ...settings }
  return true
}

/**
 * After `bindAsync`: each new session's connection window is raised to `connectionWindow`. Returns false where
 * grpc-js keeps its HTTP/2 servers elsewhere than this expects.
 */
export function widenConnectionWindow(server: grpc.Server, connectionWindow: number): boolean {
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
