/**
 * The sending side of the ingest benchmark, in its own process so the agent's event loop does not run it: a
 * WebSocket server on 127.0.0.1 speaking just enough of Alpaca's protocol, which sends pre-built frames as fast as
 * the client takes them, asleep whenever the socket is full (the two processes still share the machine's CPUs).
 * Prints `PORT <n>` when listening; exits when the client disconnects.
 */
import { WebSocketServer } from 'ws';
import { ingestFrames } from './ingest-frames.ts';

const messageCount = Number(process.argv[2] ?? 500_000);
// Encoded once: ws would otherwise UTF-8-encode every string again as it sends it.
const frames = ingestFrames(messageCount).map((text) => Buffer.from(text));
const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });

server.on('connection', (socket) => {
  socket.send(JSON.stringify([{ T: 'success', msg: 'connected' }]));
  socket.on('message', (data) => {
    const request = JSON.parse(data.toString()) as { action: string; trades?: string[]; quotes?: string[]; bars?: string[] };
    if (request.action === 'auth') socket.send(JSON.stringify([{ T: 'success', msg: 'authenticated' }]));
    if (request.action === 'subscribe') {
      socket.send(JSON.stringify([{ T: 'subscription', trades: request.trades, quotes: request.quotes, bars: request.bars }]));
      let i = 0;
      let inFlight = 0;
      // At most 64 frames (about 2 MiB) in flight; each one written out makes room for the next. No polling: the
      // sender shares this machine's CPUs with the agent, so it must sleep while the socket is full, not spin.
      const pump = (): void => {
        while (i < frames.length && inFlight < 64) {
          inFlight++;
          socket.send(frames[i++] as Buffer, { binary: false }, () => {
            inFlight--;
            pump();
          });
        }
      };
      pump();
    }
  });
  socket.on('close', () => { server.close(); process.exit(0); });
});
server.on('listening', () => {
  const address = server.address();
  process.stdout.write(`PORT ${typeof address === 'object' && address !== null ? address.port : 0}\n`);
});
