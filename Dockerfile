# Switchyard app node (see docker-compose.yml). TypeScript runs through tsx; no build step.
FROM node:22-bookworm-slim

ENV NODE_ENV=production \
    npm_config_update_notifier=false \
    npm_config_fund=false \
    npm_config_audit=false
WORKDIR /app

# Dependencies first, so a code change does not reinstall them. Dev dependencies (typescript,
# mocha, the `node` package that pins Node 22 for npm scripts) are not needed at run time.
COPY --chown=node:node package.json package-lock.json ./
RUN npm ci --omit=dev && npm cache clean --force

COPY --chown=node:node . .

USER node
EXPOSE 3000 3001
# node itself is PID 1 and gets SIGTERM (npx or tsx as a wrapper would not pass it on and the node
# would be killed without a drain)
CMD ["node", "--import", "tsx", "bin/start.ts"]
