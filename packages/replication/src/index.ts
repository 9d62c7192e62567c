export type {
  BootstrapTarget,
  GcConsumers,
  JoinSource,
  JoinView,
  Membership,
  RowSource,
  TransactionSink,
} from './ports.js';
