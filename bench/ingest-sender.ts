/**
 * The sending side of the ingest benchmark, in its own process so it does not share the agent's CPU time:
 * a WebSocket server on 127.0.0.1 speaking just enough of Alpaca's protocol, which sends pre-built frames as fast
 * as the client takes them. Prints `PORT <n>` when listening; exits when the client disconnects.
 */
import { WebSocketServer } from 'ws';
import { ingestFrames } from './ingest-frames.ts';

const messageCount = Number(process.argv[2] ?? 500_000);
const frames = ingestFrames(messageCount);
const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });

server.on('connection', (socket) => {
  socket.send(JSON.stringify([{ T: 'success', msg: 'connected' }]));
  socket.on('message', (data) => {
    const request = JSON.parse(data.toString()) as { action: string; trades?: string[]; quotes?: string[]; bars?: string[] };
    if (request.action === 'auth') socket.send(JSON.stringify([{ T: 'success', msg: 'authenticated' }]));
    if (request.action === 'subscribe') {
      socket.send(JSON.stringify([{ T: 'subscription', trades: request.trades, quotes: request.quotes, bars: request.bars }]));
      let i = 0;
      // Keep a bounded amount in flight: send more whenever the socket's buffer has drained below 4 MiB.
      const pump = (): void => {
        while (i < frames.length && socket.bufferedAmount < 4 * 1024 * 1024) socket.send(frames[i++] as string);
        if (i < frames.length) setImmediate(pump);
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
