/**
 * The users domain: the five entity kinds and the transactions between them in Postgres, fed
 * from the users and transactions streams, and the seed's queries as routes with keyset
 * pagination (README.md here). It knows the other domains only by the subjects they publish.
 */
import { defineDomain } from "../../node/domain";
import { userDomainMigrations, createUserDomainStore } from "./store";
import { userDomainDeclarations, userDomainNames } from "./streams";
import { userDomainRoutes } from "./routes";
import { userDomainService } from "./service";
import { startFeeders, type Feeders } from "./writer";

/** The users domain module (services/index.ts lists it after the domains whose streams it reads). */
export const usersDomain = defineDomain({
  name: "users",
  summary:
    "users of the five entity kinds and their transactions in Postgres, fed from the streams; profile, officers met, donations, sales",
  declare: (_config, topo) => ({
    migrations: userDomainMigrations,
    streams: userDomainDeclarations(topo),
    routes: userDomainRoutes,
  }),
  async start(ctx) {
    const store = createUserDomainStore(ctx.pg);
    let feeders: Feeders = [];
    if (ctx.config.workers)
      feeders = await startFeeders({
        nats: ctx.nats,
        names: userDomainNames(ctx.config.namespace),
        store,
        logger: ctx.logger.child({ domain: "users" }),
      });
    return {
      services: [userDomainService(store)],
      stop: async () => {
        await Promise.all(feeders.map((f) => f.stop()));
      },
    };
  },
});
