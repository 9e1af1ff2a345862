/**
 * The notifier as its users see it (workflow actions): a message to a service's channels or a
 * named group. `Notifier` is the adapter; `RecordingNotifier` the stand-in for tests.
 */
/** Messages to people: a service's channels, or a named group. */
export interface NotifierPort {
  send(
    message: {
      readonly text: string;
      readonly group?: string;
      readonly channels?: readonly string[];
      readonly service: string;
    },
    signal: AbortSignal,
  ): Promise<{ sent: number }>;
}
