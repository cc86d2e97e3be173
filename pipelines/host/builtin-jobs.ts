// Jobs every host runs: what it is and holds, which providers work, and giving memory back.
import { z } from 'zod';
import { chooseProvider, detectProviders, parseProvider } from '../runtime/providers.ts';
import { defineJob } from './jobs.ts';

export const builtinJobs = {
  'host.info': defineJob({
    input: z.object({}).optional(),
    run: (_input, ctx) => ({
      pid: process.pid,
      rssBytes: process.memoryUsage().rss,
      sessions: ctx.sessions.size,
      sessionStats: { ...ctx.sessions.stats },
      // glibc reads it once at process start; '0' means released sessions give their memory back.
      mallocTrimThreshold: process.env.MALLOC_TRIM_THRESHOLD_ ?? null,
    }),
  }),

  'host.providers': defineJob({
    input: z.object({ override: z.string().optional(), refresh: z.boolean().optional() }).optional(),
    run: async (input) => {
      const reports = await detectProviders({ refresh: input?.refresh });
      const choice = chooseProvider(reports, parseProvider(input?.override ?? process.env.STUDIO_PROVIDER));
      return { reports, choice };
    },
  }),

  'host.releaseSessions': defineJob({
    input: z.object({}).optional(),
    run: async (_input, ctx) => {
      const released = ctx.sessions.size;
      await ctx.sessions.clear();
      return { released, rssBytes: process.memoryUsage().rss };
    },
  }),
};
