<?xml version="1.0" encoding="utf-8"?>
<!-- What a browser shows for feed.xml, atom.xml, digest.xml and the topic feeds: a readable page
     that says what a feed is. Feed readers do not apply it. -->
<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform" xmlns:atom="http://www.w3.org/2005/Atom">
  <xsl:output method="html" encoding="utf-8" doctype-system="about:legacy-compat"/>
  <xsl:template match="/">
    <html lang="en">
      <head>
        <meta charset="utf-8"/>
        <meta name="viewport" content="width=device-width, initial-scale=1"/>
        <title><xsl:value-of select="rss/channel/title|atom:feed/atom:title"/></title>
        <style>
          body { margin: 0; font: 16px/1.5 -apple-system, BlinkMacSystemFont, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; color: #18181b; background: #fafafa; }
          main { max-width: 760px; margin: 0 auto; padding: 24px 16px 48px; }
          .about { background: #fff7ed; border: 1px solid #fed7aa; border-radius: 8px; padding: 12px 14px; }
          .entry { background: #fff; border: 1px solid #e4e4e7; border-radius: 8px; padding: 10px 14px; margin: 10px 0; }
          .entry a { font-weight: 600; color: #1d4ed8; text-decoration: none; }
          .muted { color: #71717a; font-size: 14px; }
        </style>
      </head>
      <body>
        <main>
          <h1><xsl:value-of select="rss/channel/title|atom:feed/atom:title"/></h1>
          <p class="about">This is a feed: copy this page's address into your feed reader to follow it.
            To read the papers here, open <a href="{{ base_url }}">the archive</a>.</p>
          <xsl:for-each select="rss/channel/item|atom:feed/atom:entry">
            <div class="entry">
              <a href="{link|atom:link/@href}"><xsl:value-of select="title|atom:title"/></a>
              <div class="muted"><xsl:value-of select="description|atom:summary"/></div>
            </div>
          </xsl:for-each>
        </main>
      </body>
    </html>
  </xsl:template>
</xsl:stylesheet>
