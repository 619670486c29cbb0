SHLTTAG1Ôê¯
ÝskWù<ÇØ¡—tdWìÊ?˜Ë³6‹ëEÐìFxøN}6ZuiNtÝS—LükÇßÔïžg&²S´