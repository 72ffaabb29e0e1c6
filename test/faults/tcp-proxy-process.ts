import net from 'node:net';

// The TCP proxy of tcp-proxy.ts, run as a process of its own (forked, driven over IPC): 'up' listens (again)
// on its port, 'down' closes the listener and resets every open connection.

const [targetHost = '127.0.0.1', targetPort = '0'] = process.argv.slice(2);
let server: net.Server | undefined;
let port = 0;
const sockets = new Set<net.Socket>();

async function up(): Promise<void> {
  const listening = net.createServer((client) => {
    const upstream = net.connect(Number(targetPort), targetHost);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => undefined);
    }
    client.pipe(upstream).pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve, reject) => {
    listening.once('error', reject);
    listening.listen(port, '127.0.0.1', () => resolve());
  });
  port = (listening.address() as net.AddressInfo).port;
  server = listening;
}

async function down(): Promise<void> {
  const listening = server;
  server = undefined;
  for (const socket of sockets) socket.resetAndDestroy();
  sockets.clear();
  if (listening) await new Promise<void>((resolve) => listening.close(() => resolve()));
}

process.on('message', (message: { id: number; command: 'up' | 'down' }) => {
  const done = message.command === 'up' ? (server ? Promise.resolve() : up()) : down();
  done.then(
    () => process.send?.({ id: message.id, port }),
    (error: unknown) => process.send?.({ id: message.id, error: String(error) }),
  );
});
process.on('disconnect', () => process.exit(0));
