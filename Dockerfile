# The sluice binary in a minimal image. Build from the repository root:
#   docker build -t sluice .
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags=-s -o /out/sluice ./cmd/sluice

# distroless/static carries CA certificates (for https S3/GCS/Azure
# endpoints) and runs as an unprivileged user.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/sluice /usr/local/bin/sluice
EXPOSE 9092 8080
ENTRYPOINT ["/usr/local/bin/sluice"]
CMD ["agent"]
