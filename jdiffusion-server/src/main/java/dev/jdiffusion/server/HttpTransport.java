package dev.jdiffusion.server;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpMessage;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpMessage;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.QueryStringDecoder;
import io.netty.util.AttributeKey;

import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Function;

/**
 * HTTP/1.1 over Netty. Netty reads every connection all the time, so a client that closes its connection while its
 * request waits in the queue or computes is noticed at once ({@link HttpExchange#disconnected}); servers that stop
 * reading while a request is handled (the JDK's HttpServer, Jetty for HTTP/1) notice only when the answer is
 * written. Bodies over the limit are refused with 413 before they are buffered. Each request is handled on a
 * virtual thread; requests on one connection are answered in order.
 */
final class HttpTransport implements AutoCloseable {
    private static final AttributeKey<CompletableFuture<Void>> CHAIN = AttributeKey.valueOf("jdiffusion.chain");
    private static final AttributeKey<CompletableFuture<Void>> CLOSED = AttributeKey.valueOf("jdiffusion.closed");
    private static final AttributeKey<AtomicReference<Runnable>> ON_CLOSE = AttributeKey.valueOf("jdiffusion.onClose");

    private final EventLoopGroup boss = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
    private final EventLoopGroup workers = new MultiThreadIoEventLoopGroup(2, NioIoHandler.newFactory());
    private final ExecutorService handlers = Executors.newVirtualThreadPerTaskExecutor();
    private final Channel server;

    HttpTransport(String host, int port, int maxBodyBytes, Function<HttpExchange, HttpExchange.Response> api) throws InterruptedException {
        ServerBootstrap b = new ServerBootstrap().group(boss, workers).channel(NioServerSocketChannel.class)
                .childHandler(new ChannelInitializer<SocketChannel>() {
                    @Override
                    protected void initChannel(SocketChannel ch) {
                        CompletableFuture<Void> closed = new CompletableFuture<>();
                        ch.attr(CLOSED).set(closed);
                        ch.attr(CHAIN).set(CompletableFuture.completedFuture(null));
                        AtomicReference<Runnable> onClose = new AtomicReference<>();
                        ch.attr(ON_CLOSE).set(onClose);
                        ch.closeFuture().addListener(f -> {
                            closed.complete(null);
                            Runnable r = onClose.getAndSet(null);
                            if (r != null) r.run();
                        });
                        // The aggregator answers "Expect: 100-continue" itself: 100 within the limit, 413 over it.
                        ch.pipeline().addLast(new HttpServerCodec(8192, 65536, 65536),
                                new LimitedAggregator(maxBodyBytes),
                                new Handler(api));
                    }
                });
        server = b.bind(host, port).sync().channel();
    }

    int port() { return ((InetSocketAddress) server.localAddress()).getPort(); }

    @Override
    public void close() {
        server.close().awaitUninterruptibly();
        boss.shutdownGracefully(0, 1, java.util.concurrent.TimeUnit.SECONDS);
        workers.shutdownGracefully(0, 1, java.util.concurrent.TimeUnit.SECONDS);
        handlers.shutdownNow();
    }

    /**
     * A body over the limit: a JSON 413 naming the limit; the body is discarded as it arrives, not buffered. As
     * Netty's own aggregator, the connection stays open when the client will go on with it (keep-alive or
     * 100-continue), so that a client still sending reads the answer instead of a reset.
     */
    private static final class LimitedAggregator extends HttpObjectAggregator {
        LimitedAggregator(int max) { super(max); }

        @Override
        protected void handleOversizedMessage(ChannelHandlerContext ctx, HttpMessage oversized) {
            String json = "{\"error\":\"PayloadTooLarge\",\"detail\":\"the request body exceeds the limit of "
                    + maxContentLength() + " bytes\",\"field\":null}";
            FullHttpResponse r = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.REQUEST_ENTITY_TOO_LARGE,
                    Unpooled.copiedBuffer(json, StandardCharsets.UTF_8));
            r.headers().set(HttpHeaderNames.CONTENT_TYPE, "application/json");
            r.headers().setInt(HttpHeaderNames.CONTENT_LENGTH, r.content().readableBytes());
            boolean close = oversized instanceof FullHttpMessage
                    || (!HttpUtil.is100ContinueExpected(oversized) && !HttpUtil.isKeepAlive(oversized));
            if (close) r.headers().set(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE);
            var f = ctx.writeAndFlush(r);
            if (close) f.addListener(ChannelFutureListener.CLOSE);
            else f.addListener(ChannelFutureListener.CLOSE_ON_FAILURE);
        }
    }

    private final class Handler extends SimpleChannelInboundHandler<FullHttpRequest> {
        private final Function<HttpExchange, HttpExchange.Response> api;

        Handler(Function<HttpExchange, HttpExchange.Response> api) { this.api = api; }

        @Override
        protected void channelRead0(ChannelHandlerContext ctx, FullHttpRequest req) {
            Channel ch = ctx.channel();
            boolean keepAlive = HttpUtil.isKeepAlive(req);
            QueryStringDecoder qs = new QueryStringDecoder(req.uri());
            Map<String, String> query = new HashMap<>();
            qs.parameters().forEach((k, v) -> query.put(k, v.isEmpty() ? "" : v.getFirst()));
            Map<String, String> headers = new LinkedHashMap<>();
            req.headers().forEach(e -> headers.put(e.getKey().toLowerCase(java.util.Locale.ROOT), e.getValue()));
            byte[] body = ByteBufUtil.getBytes(req.content());
            HttpExchange ex = new HttpExchange(req.method().name(), qs.path(), query, headers, body, ch.attr(CLOSED).get(),
                    ch.attr(ON_CLOSE).get());
            if (!req.decoderResult().isSuccess()) {
                write(ch, HttpExchange.Response.json(400, "{\"error\":\"BadRequest\",\"detail\":\"malformed HTTP request\",\"field\":null}"), false);
                return;
            }
            // One request at a time per connection, in order; each on its own virtual thread.
            CompletableFuture<Void> previous = ch.attr(CHAIN).get();
            CompletableFuture<Void> next = previous.thenRunAsync(() -> {
                if (ex.disconnected().isDone()) return;
                HttpExchange.Response r = api.apply(ex);
                if (r != null) write(ch, r, keepAlive);
            }, handlers);
            ch.attr(CHAIN).set(next.exceptionally(t -> null));
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            ctx.close();  // a reset connection: the close listener cancels its work
        }
    }

    private static void write(Channel ch, HttpExchange.Response r, boolean keepAlive) {
        if (!ch.isActive()) return;
        FullHttpResponse resp = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.valueOf(r.status()),
                Unpooled.wrappedBuffer(r.body()));
        resp.headers().set(HttpHeaderNames.CONTENT_TYPE, r.contentType());
        resp.headers().setInt(HttpHeaderNames.CONTENT_LENGTH, r.body().length);
        r.headers().forEach((k, v) -> resp.headers().set(k, v));
        if (keepAlive) resp.headers().set(HttpHeaderNames.CONNECTION, HttpHeaderValues.KEEP_ALIVE);
        else resp.headers().set(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE);
        var f = ch.writeAndFlush(resp);
        if (!keepAlive) f.addListener(ChannelFutureListener.CLOSE);
    }
}
