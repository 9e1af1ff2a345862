/** `lazarus node --config DIR --node ID`: runs one controller node until SIGTERM or SIGINT. */
import { pino } from 'pino';
import { ControllerNode } from '../controller/node.js';

export async function nodeCommand(configDir: string, nodeId: string): Promise<number> {
  const log = pino({ base: { node: nodeId }, level: process.env['LAZARUS_LOG_LEVEL'] ?? 'info' });
  let node: ControllerNode;
  try {
    node = await ControllerNode.start({ configDir, nodeId, log });
  } catch (error) {
    // The node closed what it had opened; its state is `failed` (error.state).
    // What failed is its cause (a configuration error lists its issues there).
    log.fatal({ err: (error as Error).cause ?? error, state: 'failed' }, (error as Error).message);
    return 1;
  }
  await new Promise<void>((resolve) => {
    const stop = (signal: string): void => {
      log.info({ signal }, 'stop requested');
      node.stop().then(resolve, (error: unknown) => {
        log.error({ err: error }, 'unclean stop');
        resolve();
      });
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  return 0;
}
