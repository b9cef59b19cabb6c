/** The small typed Helm engine the chart in lib/ is written with. */
export * from './spec';
export * from './expr';
export * from './helpers';
export * from './tree';
export * from './construct';
