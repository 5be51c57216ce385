/** The warm manifest format moved to core/warm-manifest.ts (the planner and the compactor read it too). */
export * from '../../core/warm-manifest.ts';
