/**
 * The little of the Engine.IO 4 / Socket.IO 5 protocols the load generator speaks, over the
 * WebSocket transport only: each WebSocket text frame is one Engine.IO packet, whose first
 * character is its type (0 open, 1 close, 2 ping, 3 pong, 4 message); a message's next character
 * is the Socket.IO packet type (0 CONNECT, 2 EVENT, 4 CONNECT_ERROR, …). A client waits for the
 * server's open packet, connects to the main namespace with `40`, is connected at the server's
 * `40{"sid":…}` reply, receives events as `42[…]`, and answers every ping `2` with a pong `3`.
 */
import { textFrame } from './frames.js';

/** The query of the upgrade request: Engine.IO 4 straight over WebSocket, plus the peer's `topics`. */
export function socketIoQuery(topics: string[]): string {
  return `?EIO=4&transport=websocket&topics=${encodeURIComponent(topics.join(','))}`;
}

/**
 * What a server frame is: `open` (Engine.IO open, `0{"sid":…}`: answer with CONNECT_MAIN),
 * `ping` (answer with PONG), `connected` (the CONNECT reply `40{…}`), `connect-error` (`44{…}`),
 * `event` (`42[…]`: a delivery), or anything else.
 */
export type SioPacket = 'open' | 'ping' | 'connected' | 'connect-error' | 'event' | 'other';

const C0 = 0x30;
const C2 = 0x32;
const C4 = 0x34;

export function sioPacket(payload: Buffer): SioPacket {
  const t = payload[0];
  if (t === C4) {
    const s = payload[1];
    return s === C2 ? 'event' : s === C0 ? 'connected' : s === C4 ? 'connect-error' : 'other';
  }
  return t === C2 ? 'ping' : t === C0 ? 'open' : 'other';
}

/** Client frames (masked); the same bytes serve every connection. */
export const CONNECT_MAIN = textFrame('40');
export const PONG = textFrame('3');
