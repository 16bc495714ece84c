# srv6oam — one target per thing a person wants. Run `make help`.
SHELL       := /bin/bash
GO          ?= go
BIN         := bin
CMDS        := $(notdir $(wildcard cmd/srv6-*))
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
# Debian packages the tests and tools use; installed by `make deps` when missing.
DEB_PKGS    := tshark iproute2 iputils-ping traceroute python3-scapy netsniff-ng clang llvm libbpf-dev bpftool nftables scamper prometheus tmux libcap2-bin chromium zsh lintian
export GOFLAGS := -buildvcs=false
# The release the binaries and the package say they are: 0.1.0~git<date of the last commit>.<its
# hash> unless given (make deb VERSION=0.2.0).
VERSION     ?= $(shell git log -1 --format='0.1.0~git%cd.%h' --date=format:%Y%m%d 2>/dev/null || echo 0.1.0)
LDFLAGS     := -X github.com/srv6oam/srv6oam/cmd/internal/cli.Version=$(VERSION)

.PHONY: help build deb test test-unit bench generate lint fuzz demo deps clean

help:
	@echo "make build     build every command into $(BIN)/"
	@echo "make test      every test (unit, fuzz seeds, lab tests in namespaces; needs root)"
	@echo "make test-unit the unit tests only: no root, no lab"
	@echo "make bench     benchmarks, printed as go test -bench output"
	@echo "make generate  rebuild the bpf2go bindings with clang"
	@echo "make lint      gofmt, go vet, staticcheck"
	@echo "make fuzz      a short run of every fuzz target"
	@echo "make demo      bring up the bundled lab, show srv6-ping and srv6-trace, tear it down"
	@echo "make deb       a Debian package of the commands and systemd units, in dist/"
	@echo "make deps      install the Debian packages the tests need (root)"

build:
	@mkdir -p $(BIN)
	CGO_ENABLED=0 $(GO) build -ldflags '$(LDFLAGS)' -o $(BIN)/ ./cmd/...

# deb builds the commands stripped (-s -w: no symbol table or DWARF; panics still show file
# and line) into dist/bin and packages them: dist/srv6oam_VERSION_ARCH.deb (docs/install.md).
deb:
	@mkdir -p dist/bin
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '-s -w $(LDFLAGS)' -o dist/bin/ ./cmd/...
	scripts/mkdeb.sh dist/bin dist '$(VERSION)'

# deps installs only what is missing, so repeated runs cost nothing.
deps:
	@missing=""; for p in $(DEB_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

# Lab tests create network namespaces: -p 1 keeps two packages from loading the 2-core machine
# with two labs at once (they would still work side by side, only slower and noisier). On a host
# whose kernel has no seg6local routes or End.BPF (CONFIG_IPV6_SEG6_LWTUNNEL, _BPF), the test
# binaries run in a VM with Debian's kernel instead (scripts/vmtest.sh, docs/testing.md).
test: deps build
	@scripts/mkdeb.sh --tools
	@if scripts/vmtest.sh --check; then \
		echo "$(GO) test -count=1 -p 1 -timeout 30m ./..."; $(GO) test -count=1 -p 1 -timeout 30m ./...; \
	else \
		echo "this kernel has no seg6local/End.BPF (CONFIG_IPV6_SEG6_LWTUNNEL, _BPF): the tests run in a VM"; \
		scripts/gotest-vm.sh -count=1 -timeout=30m ./...; \
	fi

test-unit:
	$(GO) test -count=1 -short ./...

bench: deps
	$(GO) test -run '^$$' -bench . -benchmem -count 5 -timeout 60m ./...

generate: deps
	$(GO) generate ./bpf/...

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

FUZZTIME ?= 10s
fuzz:
	@for pkg in $$($(GO) list ./...); do \
		for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
			echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
		done; \
	done

demo: build
	@if scripts/vmtest.sh --check; then ./scripts/demo.sh; \
	else echo "this kernel has no seg6local/End.BPF: the demo runs in a VM with Debian's kernel"; scripts/vmtest.sh ./scripts/demo.sh; fi

clean:
	rm -rf $(BIN) dist
